#!/usr/bin/env bash
# Re-vendor the book's browser assets from the npm registry (see README.md here).
#   bash book/_vendor/update.sh        # then rebuild the book and run the browser test
# Change a version below, run, update README.md's table, commit.
set -euo pipefail
MATHJAX=3.2.2
HTML_MANAGER=1.0.15
REQUIREJS=2.3.8

here="$(cd "$(dirname "$0")" && pwd)"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
npm pack --silent "mathjax@$MATHJAX" "@jupyter-widgets/html-manager@$HTML_MANAGER" "requirejs@$REQUIREJS" >/dev/null
for f in *.tgz; do mkdir -p "${f%.tgz}"; tar xzf "$f" -C "${f%.tgz}"; done

mj="mathjax-$MATHJAX/package"
rm -rf "$here/mathjax" && mkdir -p "$here/mathjax/output/chtml/fonts" "$here/mathjax/input/tex"
cp "$mj/es5/tex-chtml.js" "$mj/LICENSE" "$here/mathjax/"
cp -r "$mj/es5/output/chtml/fonts/woff-v2" "$here/mathjax/output/chtml/fonts/"
cp -r "$mj/es5/input/tex/extensions" "$here/mathjax/input/tex/"   # loaded on demand (\boldsymbol, mathtools, ...)

hm="jupyter-widgets-html-manager-$HTML_MANAGER/package/dist"
rm -rf "$here/html-manager" && mkdir -p "$here/html-manager"
cp "$hm/embed-amd.js" "$hm/embed.js.LICENSE.txt" "$hm"/*.woff "$hm"/*.woff2 "$here/html-manager/"

rm -rf "$here/requirejs" && mkdir -p "$here/requirejs"
cp "requirejs-$REQUIREJS/package/require.js" "$here/requirejs/"
echo "vendored mathjax@$MATHJAX @jupyter-widgets/html-manager@$HTML_MANAGER requirejs@$REQUIREJS into $here"
