/*
 * measure.js: the distance and area measuring tool.
 * Plain script assigning mj.measure (see the comment at the top of decode.js); its methods are
 * mixed into the App of main.js and its init(app), if any, runs once the panel is built.
 */

const methods = {};

mj.measure = { methods };
