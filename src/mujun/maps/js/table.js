/*
 * table.js: the attribute table of the parcels shown: sortable, click to zoom, export.
 * Plain script assigning mj.table (see the comment at the top of decode.js); its methods are
 * mixed into the App of main.js and its init(app), if any, runs once the panel is built.
 */

const methods = {};

mj.table = { methods };
