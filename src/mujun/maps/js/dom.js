/*
 * dom.js: small helpers every part of the page uses. Plain script assigning mj.dom (see the
 * comment at the top of decode.js for how the files are joined).
 *
 * Values from the data are always set with textContent (el), never as markup.
 */

/** A template's {name} fields filled from values (unknown fields stay as they are). */
function fill(template, values) {
  return template.replace(/\{(\w+)\}/g, (m, k) =>
    values[k] === undefined ? m : String(values[k]),
  );
}

/** A new element with text (as text), a class, appended to parent if given. */
function el(tag, text, parent, cls) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) {
    e.textContent = text;
  }
  if (cls) {
    e.className = cls;
  }
  if (parent) {
    parent.appendChild(e);
  }
  return e;
}

/** Whether a cell has a value (not null, undefined or ""). */
function present(v) {
  return v !== null && v !== undefined && v !== "";
}

/** A message over the map, for a page that cannot start. */
function notice(text) {
  return el("div", text, document.body, "mj-title mj-error");
}

mj.dom = { el, fill, notice, present };
