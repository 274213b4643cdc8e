// The draw request form's pickers: narrow the section list and the specialty tree as staff type. Without
// this script both lists are complete and still usable.
function words(text) { return text.toLowerCase().split(/\s+/).filter(Boolean); }

const sectionFilter = document.getElementById("section-filter");
const sectionSelect = document.getElementById("section_id");
if (sectionFilter && sectionSelect) {
  sectionFilter.addEventListener("input", () => {
    const wanted = words(sectionFilter.value);
    let first = null;
    for (const option of sectionSelect.options) {
      const text = option.textContent.toLowerCase();
      const match = wanted.every((w) => text.includes(w));
      option.hidden = !match;
      if (match && !first) { first = option; }
    }
    if (first && (sectionSelect.selectedIndex < 0 || sectionSelect.options[sectionSelect.selectedIndex].hidden)) {
      first.selected = true;
    }
  });
}

const specialtyFilter = document.getElementById("specialty-filter");
if (specialtyFilter) {
  specialtyFilter.addEventListener("input", () => {
    const wanted = words(specialtyFilter.value);
    const items = Array.from(document.querySelectorAll("#specialty-picker li[data-search]"));
    // A specialty shows when it or one of its sub-specialties matches (its parents stay for context).
    for (const li of items.reverse()) {
      const own = wanted.every((w) => li.dataset.search.toLowerCase().includes(w));
      const child = li.querySelector(":scope > ul > li:not([hidden])") !== null;
      li.hidden = !(own || child);
    }
  });
}
