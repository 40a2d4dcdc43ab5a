// Ours, not vendored (see README.md): loaded before the widget bundle on pages with saved widgets.
//
// The widget bundle html-manager/embed-amd.js typesets a widget's description with the
// MathJax 2 call `MathJax.Hub.Queue(["Typeset", MathJax.Hub, element])` whenever
// `window.MathJax` exists (ipywidgets issue #3849).  The book runs MathJax 3, which has
// no `Hub`, so every described widget (a slider's "T") threw "Cannot read properties of
// undefined (reading 'Queue')" on pages with math.  This gives each object assigned to
// `window.MathJax` -- Sphinx's configuration first, then MathJax 3 itself, which
// replaces it -- a `Hub.Queue` that does the same with MathJax 3's documented call:
// chain `MathJax.typesetPromise([element])` onto `MathJax.startup.promise`.  Before
// MathJax 3 has started there is nothing to do: its first pass typesets the whole page,
// the widget's element included.
(function () {
  function typeset(element) {
    var mathjax = window.MathJax;
    if (mathjax && mathjax.startup && mathjax.startup.promise && mathjax.typesetPromise) {
      mathjax.startup.promise = mathjax.startup.promise.then(function () {
        return mathjax.typesetPromise(element ? [element] : undefined);
      });
    }
  }

  var hub = {
    Queue: function () {
      for (var i = 0; i < arguments.length; i++) {
        var job = arguments[i];
        if (Array.isArray(job) && job[0] === "Typeset") typeset(job[2]);
      }
    }
  };

  function withHub(mathjax) {
    if (mathjax && typeof mathjax === "object" && !mathjax.Hub) {
      // Not enumerable: MathJax 3 reads its configuration's keys and must not see it.
      Object.defineProperty(mathjax, "Hub", {value: hub, configurable: true});
    }
    return mathjax;
  }

  var current = withHub(window.MathJax);
  Object.defineProperty(window, "MathJax", {
    configurable: true,
    enumerable: true,
    get: function () { return current; },
    set: function (value) { current = withHub(value); }
  });
})();
