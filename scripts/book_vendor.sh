#!/usr/bin/env bash
# Refresh the browser assets the book serves itself (book/vendor/), so that it
# renders with no network: MathJax 3 and the ipywidgets embed script.
# Needs npm and a package registry; the result is committed, the build never
# downloads anything.
set -euo pipefail
MATHJAX=3.2.2
HTML_MANAGER=1.0.14  # the @jupyter-widgets/html-manager of ipywidgets 8.1
root="$(cd "$(dirname "$0")/.." && pwd)"
vendor="$root/book/vendor"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
npm pack --silent "mathjax@$MATHJAX" "@jupyter-widgets/html-manager@$HTML_MANAGER" >/dev/null
mkdir mj wm
tar xzf "mathjax-$MATHJAX.tgz" -C mj
tar xzf "jupyter-widgets-html-manager-$HTML_MANAGER.tgz" -C wm
rm -rf "$vendor/mathjax" "$vendor/widgets"
mkdir -p "$vendor/mathjax/output/chtml/fonts" "$vendor/widgets"
cp mj/package/es5/tex-chtml-full.js mj/package/LICENSE "$vendor/mathjax/"
cp -r mj/package/es5/output/chtml/fonts/woff-v2 "$vendor/mathjax/output/chtml/fonts/"
cp wm/package/dist/embed.js wm/package/dist/embed.js.LICENSE.txt \
   wm/package/dist/*.woff wm/package/dist/*.woff2 wm/package/LICENSE "$vendor/widgets/"
# no source map is shipped: drop the comment that would make a browser ask for it
sed -i '/^\/\/# sourceMappingURL=/d' "$vendor/widgets/embed.js"
echo "vendored MathJax $MATHJAX and html-manager $HTML_MANAGER into $vendor"
