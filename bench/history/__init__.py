"""Every run remembered: an SQLite index of the runs' figures (store.py) and the history report (report.py).

The runs (results/runs/*/run.json) stay the source of truth; the index is rebuilt from them whenever it
is missing or damaged (`bench report --reindex`)."""
