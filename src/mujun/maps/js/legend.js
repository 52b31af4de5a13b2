/*
 * legend.js: the legend of the theme shown and of every overlay that is on.
 * Plain script assigning mj.legend (see the comment at the top of decode.js); its methods are
 * mixed into the App of main.js and its init(app), if any, runs once the panel is built.
 */

const methods = {};

mj.legend = { methods };
