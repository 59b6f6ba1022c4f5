"""`lightfmp report RUN_DIR...`: the paper's Table 2 and Table 3 over run folders, the two-stage methods'
time split (Figure 2a as shares), and the figures.

Runs are averaged only over seeds: runs of one table cell whose settings differ otherwise are shown as
separate rows, with a note naming the settings (`lightfmp.report.grouping`); `--json` carries the groups.
"""
from __future__ import annotations

import json
from typing import Any

import click


@click.command("report")
@click.argument("runs", nargs=-1, required=True, type=click.Path())
@click.option("--plot", "plot_dir", type=click.Path(), default=None,
              help="Also write Figures 2a-2d and 3 (PNG) into this folder.")
@click.option("--model", default=None, help="Backbone of Table 2 (default: the most common among the runs).")
@click.option("--dataset", default=None, help="Data set of Table 3 (default: the one with most Light-FMP runs).")
@click.option("--prune-ratio", type=float, default=0.5, show_default=True, help="tau of the compared runs.")
@click.option("--json", "as_json", is_flag=True, help="Print the tables' data, with the groups averaged, as JSON.")
def command(runs: tuple[str, ...], plot_dir: str | None, model: str | None, dataset: str | None,
            prune_ratio: float, as_json: bool) -> None:
    """Tables (and plots) over run folders, like the paper's Tables 2 and 3."""
    from lightfmp.report.tables import (format_stage_times, format_table2, format_table3, load_reports,
                                        stage_times_data, table2_data, table3_data)

    if plot_dir is not None:
        from lightfmp.report.figures import check_plot_dir

        check_plot_dir(plot_dir)  # before the runs are read or anything drawn
    reports = load_reports(runs)
    t2 = table2_data(reports, model, prune_ratio)
    t3 = table3_data(reports, dataset, prune_ratio)
    stages = stage_times_data(reports, t2["model"], prune_ratio)
    figures: dict[str, Any] = {}
    if plot_dir is not None:
        from lightfmp.report.figures import draw_all

        figures = draw_all(reports, plot_dir, dataset, model, prune_ratio)
    if as_json:
        from lightfmp.runs.folder import json_safe

        data = {"table2": t2, "table3": t3, "stages": stages, "figures": figures}
        click.echo(json.dumps(json_safe(data), indent=1, allow_nan=False))
        return
    click.echo(format_table2(t2))
    click.echo()
    click.echo(format_table3(t3))
    if stages["rows"]:
        click.echo()
        click.echo("Two-stage methods: stage 1 (pretraining / search) and stage 2 (continued training / retraining) "
                   "as shares of No Selection's TT, same data set and seed.")
        click.echo()
        click.echo(format_stage_times(stages))
    for name, path in figures.items():
        click.echo(f"{name}: {path}")
