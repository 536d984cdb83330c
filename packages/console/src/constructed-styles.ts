/**
 * The console's Content-Security-Policy allows stylesheets from its own
 * origin only (`style-src 'self'`, no 'unsafe-inline'), so a `<style>`
 * element a library writes at run time is refused by the browser. xterm.js
 * draws its theme and cell sizes that way. Rather than weaken the policy
 * for the whole console, this copies the text of every `<style>` element
 * under `root` into one constructed stylesheet, which CSP does not govern
 * (it is made by script that the policy already trusts, and cannot be
 * injected by markup). The browser still reports the refused elements in
 * the developer console; the styles apply all the same.
 */
export function mirrorInlineStyles(root: HTMLElement): () => void {
  const sheet = new CSSStyleSheet();
  document.adoptedStyleSheets = [...document.adoptedStyleSheets, sheet];
  const copy = () => {
    const text = [...root.querySelectorAll('style')].map((s) => s.textContent ?? '').join('\n');
    sheet.replaceSync(text);
  };
  const observer = new MutationObserver(copy);
  observer.observe(root, { childList: true, subtree: true, characterData: true });
  copy();
  return () => {
    observer.disconnect();
    document.adoptedStyleSheets = document.adoptedStyleSheets.filter((s) => s !== sheet);
  };
}
