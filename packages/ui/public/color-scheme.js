/* global window, document */
// Sets the colour scheme before the first paint (no flash of the wrong scheme): the one chosen
// with the header's toggle (localStorage, as Mantine's colour scheme manager stores it), or the
// OS's. A file of its own because the Content-Security-Policy allows no inline script.
try {
  var stored = window.localStorage.getItem("pier-color-scheme");
  var chosen = stored === "light" || stored === "dark" ? stored : window.matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light";
  document.documentElement.setAttribute("data-mantine-color-scheme", chosen);
} catch {
  // No storage (a locked-down browser): Mantine applies the OS's scheme once it starts.
}
