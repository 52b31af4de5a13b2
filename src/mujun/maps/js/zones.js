/*
 * zones.js: the consolidation zones' tooltip and popup (firms, reasons, tax, gain, parcels).
 * Plain script assigning mj.zones (see the comment at the top of decode.js); its methods are
 * mixed into the App of main.js and its init(app), if any, runs once the panel is built.
 */

const methods = {};

mj.zones = { methods };
