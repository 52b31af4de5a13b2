/*
 * share.js: the permalink (view, theme, overlays and filters in the URL hash) and the
 * print layout.
 * Plain script assigning mj.share (see the comment at the top of decode.js); its methods are
 * mixed into the App of main.js and its init(app), if any, runs once the panel is built.
 */

const methods = {};

mj.share = { methods };
