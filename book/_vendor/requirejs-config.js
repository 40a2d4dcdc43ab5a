// Ours, not vendored (see README.md): loaded before require.js on pages with saved widgets.
// The widget bundle html-manager/embed-amd.js defines the AMD modules named below and
// loads its fonts relative to each module's URI, which require.js would otherwise
// place next to the page.  Map every one of them into the vendored folder next to
// this script, so the fonts come from _static/html-manager/ whatever the page's depth.
var require = (function () {
  var folder = new URL("html-manager", document.currentScript.src).href;
  var paths = {"@jupyter-widgets/html-manager/dist": folder};
  ["base", "base7", "controls", "controls7", "html-manager"].forEach(function (name) {
    paths["@jupyter-widgets/" + name] = folder + "/" + name;
  });
  return {paths: paths};
})();
