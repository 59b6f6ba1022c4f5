"""`lightfmp report RUN_DIR...`: the paper's Table 2 and Table 3 over run folders, the two-stage methods'
time split (Figure 2a as shares), every comparison the paper makes with its 95% intervals and verdict,
and the figures; `--html PAGE` writes all of it, with each run's configuration, as one self-contained page.

Runs are averaged only over seeds: runs of one table cell whose settings differ otherwise are shown as
separate rows, with a note naming the settings (`lightfmp.report.grouping`); `--json` carries the groups.
"""
from __future__ import annotations

import json
import tempfile
from typing import Any

import click


@click.command("report")
@click.argument("runs", nargs=-1, required=True, type=click.Path())
@click.option("--plot", "plot_dir", type=click.Path(), default=None,
              help="Also write Figures 2a-2d and 3 (PNG) into this folder.")
@click.option("--html", "html_page", type=click.Path(), default=None,
              help="Also write one self-contained HTML page (tables, intervals, figures, every run's config).")
@click.option("--model", default=None, help="Backbone of Table 2 (default: the most common among the runs).")
@click.option("--dataset", default=None, help="Data set of Table 3 (default: the one with most Light-FMP runs).")
@click.option("--prune-ratio", type=float, default=0.5, show_default=True, help="tau of the compared runs.")
@click.option("--bootstrap", "n_boot", type=click.IntRange(min=0), default=1000, show_default=True,
              help="Bootstrap replicates of the test rows per comparison (0: the interval over seeds only).")
@click.option("--json", "as_json", is_flag=True, help="Print the tables' data, with the groups averaged, as JSON.")
def command(runs: tuple[str, ...], plot_dir: str | None, html_page: str | None, model: str | None,
            dataset: str | None, prune_ratio: float, n_boot: int, as_json: bool) -> None:
    """Tables (and plots) over run folders, like the paper's Tables 2 and 3."""
    from lightfmp.report.comparisons import all_comparisons, comparisons_markdown
    from lightfmp.report.tables import (format_stage_times, format_table2, format_table3, load_reports,
                                        stage_times_data, table2_data, table3_data)

    if plot_dir is not None:
        from lightfmp.report.figures import check_plot_dir

        check_plot_dir(plot_dir)  # before the runs are read or anything drawn
    if html_page is not None:
        from lightfmp.report.html import check_html_out

        check_html_out(html_page)
    reports = load_reports(runs)
    t2 = table2_data(reports, model, prune_ratio)
    t3 = table3_data(reports, dataset, prune_ratio)
    stages = stage_times_data(reports, t2["model"], prune_ratio)
    comps = all_comparisons(reports, t2["model"], prune_ratio, n_boot=n_boot)
    figures: dict[str, Any] = {}
    if plot_dir is not None:
        from lightfmp.report.figures import draw_all

        figures = draw_all(reports, plot_dir, dataset, model, prune_ratio)
    if html_page is not None:
        _write_html(html_page, runs, reports, t2, t3, stages, comps, n_boot, figures, dataset, model, prune_ratio)
    if as_json:
        from lightfmp.runs.folder import json_safe

        data = {"table2": t2, "table3": t3, "stages": stages, "figures": figures,
                "comparisons": [c.to_dict() for c in comps]}
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
    if comps:
        click.echo()
        click.echo(comparisons_markdown(comps, n_boot))
    for name, path in figures.items():
        click.echo(f"{name}: {path}")
    if html_page is not None:
        click.echo(f"page: {html_page}")


def _write_html(out: str, paths: tuple[str, ...], reports: list[dict[str, Any]], t2: dict[str, Any],
                t3: dict[str, Any], stages: dict[str, Any], comps: list[Any], n_boot: int,
                figures: dict[str, Any], dataset: str | None, model: str | None, tau: float) -> None:
    from lightfmp.report.comparisons import comparisons_markdown
    from lightfmp.report.figures import draw_all
    from lightfmp.report.html import page, write_page
    from lightfmp.report.tables import format_stage_times, format_table2, format_table3

    body = ["# Light-FMP report", "",
            f"{len(reports)} run(s) from " + ", ".join(f"`{p}`" for p in paths) + ".", "",
            "## Table 2", "", format_table2(t2), "", "## Table 3", "", format_table3(t3), ""]
    if stages["rows"]:
        body += ["## Where the training time goes", "", "Two-stage methods: stage 1 (pretraining / search) and "
                 "stage 2 (continued training / retraining) as shares of No Selection's TT, same data set and seed.",
                 "", format_stage_times(stages), ""]
    if comps:
        body += ["## Against the paper's claims", "", comparisons_markdown(comps, n_boot), ""]
    with tempfile.TemporaryDirectory() as tmp:
        figs = figures or draw_all(reports, tmp, dataset, model, tau)  # drawn for the page where --plot was not given
        text = page("Light-FMP report", "\n".join(body), reports=reports,
                    figures=sorted(figs.items()))
    write_page(out, text)
