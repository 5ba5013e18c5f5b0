// Start Redoc on /api/redoc/ without an inline script (clinic/api/docs.py).
// Redoc's styled-components add <style> elements at run time; the page's CSP allows them only
// with the nonce this script tag carries, so pass it on.
(function () {
  "use strict";
  var nonce = document.currentScript ? document.currentScript.nonce : undefined;
  var container = document.getElementById("redoc-container");
  if (!container || typeof Redoc === "undefined") return;
  // The menu's footer loads Redocly's logo from their CDN: no third-party request from a
  // clinic's browser (and the CSP would refuse it). The link text stays.
  var REDOCLY_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg";
  var setAttribute = Element.prototype.setAttribute;
  Element.prototype.setAttribute = function (name, value) {
    if (name === "src" && value === REDOCLY_LOGO) return undefined;
    return setAttribute.call(this, name, value);
  };
  var src = Object.getOwnPropertyDescriptor(HTMLImageElement.prototype, "src");
  Object.defineProperty(HTMLImageElement.prototype, "src", {
    configurable: true,
    enumerable: src.enumerable,
    get: src.get,
    set: function (value) {
      if (value !== REDOCLY_LOGO) src.set.call(this, value);
    },
  });
  Redoc.init(container.getAttribute("data-schema-url"), { nonce: nonce }, container);
})();
