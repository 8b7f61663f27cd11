// mllbench report: sort a table by a column when its header is clicked (again: reverse).
// Number columns sort by the cell's data-v (best first on the first click; blanks last),
// text columns by their text. The footer (the oracle row) stays where it is.
"use strict";

function sortBy(table, th) {
  const col = th.cellIndex;
  const numeric = th.dataset.type === "number";
  const previous = th.getAttribute("aria-sort");
  const descending = previous ? previous === "ascending" : numeric;
  for (const other of th.parentNode.cells) other.removeAttribute("aria-sort");
  th.setAttribute("aria-sort", descending ? "descending" : "ascending");
  const key = (row) => {
    const cell = row.cells[col];
    if (!numeric) return cell.textContent;
    return cell.dataset.v === "" ? null : Number(cell.dataset.v);
  };
  const body = table.tBodies[0];
  const rows = Array.from(body.rows);
  rows.sort((a, b) => {
    const x = key(a), y = key(b);
    if (x === null || y === null) return (x === null) - (y === null);
    const order = numeric ? x - y : (x < y ? -1 : x > y ? 1 : 0);  // code points, as the board orders
    return descending ? -order : order;
  });
  for (const row of rows) body.appendChild(row);
}

for (const table of document.querySelectorAll("table.sortable")) {
  for (const th of table.tHead.rows[0].cells) {
    th.tabIndex = 0;
    th.title = "sort by this column";
    th.addEventListener("click", () => sortBy(table, th));
    th.addEventListener("keydown", (event) => {
      if (event.key === "Enter" || event.key === " ") {
        event.preventDefault();
        sortBy(table, th);
      }
    });
  }
}
