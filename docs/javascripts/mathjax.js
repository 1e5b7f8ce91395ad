// MathJax for the site. On ordinary pages only pymdownx.arithmatex's output is read as TeX: the
// $...$ and $$...$$ of pages and docstrings, handed over as \(...\) and \[...\]. On a notebook
// page (mkdocs-jupyter leaves its markdown cells' $...$ and $$...$$ as they are) the whole page
// is read, as Jupyter does; code and outputs are skipped.
//
// The docstrings break long display equations with a bare `\\`, which MathJax 3 ignores outside
// an environment: such an equation is set as `\displaylines{...}`, one line per `\\`.
const notebookPage = document.querySelector(".jp-Notebook") !== null;

function displayLines() {
  document.querySelectorAll("div.arithmatex").forEach((element) => {
    const tex = element.textContent.trim();
    if (tex.includes("\\\\") && !tex.includes("\\begin") && !tex.includes("\\displaylines")) {
      element.textContent = tex.replace(/^\\\[([\s\S]*)\\\]$/, "\\[\\displaylines{$1}\\]");
    }
  });
}

window.MathJax = {
  tex: {
    inlineMath: notebookPage ? [["$", "$"], ["\\(", "\\)"]] : [["\\(", "\\)"]],
    displayMath: notebookPage ? [["$$", "$$"], ["\\[", "\\]"]] : [["\\[", "\\]"]],
    processEscapes: true,
    processEnvironments: true,
  },
  options: notebookPage ? {} : { ignoreHtmlClass: ".*|", processHtmlClass: "arithmatex" },
  startup: {
    pageReady: () => {
      displayLines();
      return MathJax.startup.defaultPageReady();
    },
  },
};
