// Top menu groups are <details> elements (they work without this script); this closes the others when one
// opens, and all of them on a click elsewhere or Escape.
const groups = Array.from(document.querySelectorAll("details.navgroup"));
for (const group of groups) {
  group.addEventListener("toggle", () => {
    if (group.open) { for (const other of groups) { if (other !== group) { other.open = false; } } }
  });
}
document.addEventListener("click", (event) => {
  for (const group of groups) { if (!group.contains(event.target)) { group.open = false; } }
});
document.addEventListener("keydown", (event) => {
  if (event.key === "Escape") { for (const group of groups) { group.open = false; } }
});
