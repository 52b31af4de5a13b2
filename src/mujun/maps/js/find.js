/*
 * find.js: filters by a figure (lowest N, below a value, a legend class), the park filter
 * that zooms to its park, the kept highlight, lessees in search, double-click zoom.
 * Plain script assigning mj.find (see the comment at the top of decode.js); its methods are
 * mixed into the App of main.js and its init(app), if any, runs once the panel is built.
 */

const methods = {};

mj.find = { methods };
