"""Saved ("shared") experiment-page views for the MLflow 3.17.2 UI, written from Python.

The MLflow UI stores a saved view as an *experiment tag*:

    key   = "mlflow.sharedViewState." + <share key>
    value = JSON envelope {"name": str, "createdAt": int ms, "updatedAt": int ms,
                           "state": "deflate;" + base64(zlib(JSON(view state)))}

and opens it from ``#/experiments/<id>/runs?viewStateShareKey=<share key>``. The view
state is the experiment page's search facets plus its UI state (columns, chart cards,
chart sections, which runs are charted, ...). None of this is a documented API: it is
read from MLflow 3.17.2's compiled front-end and checked in a browser (FINDINGS.md,
prototype_browser_test.py). Standard library only.
"""
from __future__ import annotations

import base64
import hashlib
import json
import time
import urllib.parse
import zlib

TAG_PREFIX = "mlflow.sharedViewState."  # UI constant (main.*.js, module 67593)
STATE_PREFIX = "deflate;"                # UI constant (main.*.js, module 58180)
MAX_TAG_VALUE = 20_000                   # the UI refuses to save a larger envelope (and
                                         # the server refuses tag values over 20,000 chars)

# The seven search facets a view holds (module 42057 defaults). The UI also reads
# them from the URL, where any one of them makes it ignore viewStateShareKey.
DEFAULT_SEARCH_FACETS = {
    "searchFilter": "",
    "orderByKey": "attributes.start_time",
    "orderByAsc": False,
    "startTime": "ALL",
    "lifecycleFilter": "Active",
    "datasetsFilter": [],
    "modelVersionFilter": "All Runs",
}

# runsHiddenMode values (module 1395). The UI default, FIRST_10_RUNS, charts only the
# first 10 runs of the list: a view of a whole sweep must say SHOW_ALL.
SHOW_ALL, HIDE_ALL = "SHOW_ALL", "HIDE_ALL"
FIRST_10_RUNS, FIRST_20_RUNS, HIDE_FINISHED_RUNS = "FIRST_10_RUNS", "FIRST_20_RUNS", "HIDE_FINISHED_RUNS"

# Sort keys. Sorting by start time (the UI default) makes the UI nest runs under their
# parent run and fetch missing parents: a sweep's configuration runs then hide under
# one collapsed sweep row and no curve is charted. Any other sort key lists them flat.
START_TIME_ORDER = "attributes.start_time"
RUN_NAME_ORDER = "tags.`mlflow.runName`"   # the UI's own "Run Name" sort key


def column_key(kind: str, name: str) -> str:
    """A runs-table column id as the UI spells it: ``params.`model.name```,
    ``metrics.`auroc```, ``tags.`sweep_id```, ``attributes.`Source```."""
    if kind not in ("attributes", "params", "metrics", "tags"):
        raise ValueError(f"unknown column kind {kind!r}")
    return f"{kind}.`{name}`"


def _id(seed: str) -> str:
    # The UI makes ids as Date.now() + 8 base-36 characters; any unique string works.
    # Deterministic ids keep the same view byte-identical from one write to the next.
    return "biotab" + hashlib.sha1(seed.encode()).hexdigest()[:16]


def _line_card(metric: str, section_id: str) -> dict:
    """A LINE chart card with the fields the 3.17.2 UI itself writes (RunsChartsLineCardConfig)."""
    return {
        "uuid": _id(f"line:{section_id}:{metric}"),
        "type": "LINE",
        "runsCountToCompare": 10,       # unused by 3.17.2 charts; written by the UI all the same
        "metricSectionId": section_id,
        "deleted": False,
        "isGenerated": False,
        "displayName": metric,          # the card title
        "metricKey": metric,
        "selectedMetricKeys": [metric],
        "lineSmoothness": 0,
        "xAxisScaleType": "linear",
        "scaleType": "linear",
        "range": {},
        "xAxisKey": "step",
        "selectedXAxisMetricKey": "",
        "yAxisKey": "metric",
        "yAxisExpressions": [],
        "ignoreOutliers": False,
        "useGlobalXaxisKey": True,      # follow globalLineChartConfig, as UI-made cards do
        "useGlobalLineSmoothing": True,
    }


def _bar_card(metric: str, section_id: str) -> dict:
    """A BAR chart card (one bar per run: the metric's latest value)."""
    return {
        "uuid": _id(f"bar:{section_id}:{metric}"),
        "type": "BAR",
        "runsCountToCompare": 10,
        "metricSectionId": section_id,
        "deleted": False,
        "isGenerated": False,
        "displayName": metric,
        "metricKey": metric,
    }


def _hidden_card(metric: str) -> dict:
    """A deleted card: the UI generates a chart for every metric key of the charted runs
    that no card names (updateChartAndSectionConfigs); a deleted card names it."""
    card = _bar_card(metric, _id("section:hidden"))
    card.update(uuid=_id(f"hidden:{metric}"), deleted=True, isGenerated=True)
    return card


def run_filter(filter_string: str = "", run_ids=()) -> str:
    """``filter_string`` AND-ed with ``attributes.run_id IN (...)`` when run ids are given."""
    clauses = [filter_string.strip()] if filter_string.strip() else []
    if run_ids:
        for rid in run_ids:
            if not str(rid).isalnum():
                raise ValueError(f"not a run id: {rid!r}")
        clauses.append("attributes.run_id IN (" + ",".join(f"'{r}'" for r in run_ids) + ")")
    return " and ".join(clauses)


def view_state(
    *,
    filter_string: str,
    line_metrics=(),
    bar_metrics=(),
    columns=(),
    hidden_metrics=(),
    run_ids=(),
    line_section: str = "Learning curves",
    bar_section: str = "Pooled metrics",
    order_by: str = RUN_NAME_ORDER,
    order_ascending: bool = True,
    smoothing: float = 0,
    x_axis: str = "step",
    runs_hidden_mode: str = SHOW_ALL,
) -> dict:
    """The view-state object the 3.17.2 experiment page saves: search facets + UI state.

    ``columns``: runs-table column ids (:func:`column_key`); a plain name is a param.
    ``hidden_metrics``: other metric keys of the runs that should get no chart.
    ``run_ids``: restrict the view to these runs (added to the filter).
    """
    line_id = _id(f"section:{line_section}")
    bar_id = _id(f"section:{bar_section}")
    charted = set(line_metrics) | set(bar_metrics)
    cards = ([_line_card(m, line_id) for m in line_metrics]
             + [_bar_card(m, bar_id) for m in bar_metrics]
             + [_hidden_card(m) for m in dict.fromkeys(hidden_metrics) if m not in charted])
    sections = []
    if line_metrics:
        sections.append({"uuid": line_id, "name": line_section, "display": True,
                         "isReordered": False, "deleted": False, "isGenerated": False})
    if bar_metrics:
        sections.append({"uuid": bar_id, "name": bar_section, "display": True,
                         "isReordered": False, "deleted": False, "isGenerated": False})
    # No "Model metrics"/"System metrics" sections: this is the state the UI saves after a
    # user deletes those two (it then sets isAccordionReordered, which keeps the order
    # above). A metric with no card at all still gets a chart, in a "Model metrics"
    # section the UI appends at the end.
    facets = dict(DEFAULT_SEARCH_FACETS, searchFilter=run_filter(filter_string, run_ids),
                  orderByKey=order_by, orderByAsc=bool(order_ascending))
    ui = {
        "selectedColumns": [c if "`" in c else column_key("params", c) for c in columns],
        "columnOrder": [],
        "columnWidths": {},
        "runsHiddenMode": runs_hidden_mode,
        "compareRunCharts": cards,
        "compareRunSections": sections,
        "viewMaximized": False,
        "runListHidden": False,
        "isAccordionReordered": True,
        "useGroupedValuesInCharts": True,
        "hideEmptyCharts": True,
        "groupBy": None,
        "groupsExpanded": {},
        "globalLineChartConfig": {"xAxisKey": x_axis, "lineSmoothness": smoothing,
                                  "selectedXAxisMetricKey": ""},
    }
    return {**facets, **ui}


def encode_state(state: dict) -> str:
    """``deflate;`` + standard base64 (``+/``, ``=`` padding) of the zlib stream (header
    78 9c) of the JSON text: what the UI's pako.deflate + btoa write. pako.inflate in
    the UI expects the zlib wrapper, so raw deflate (wbits -15) would not load."""
    raw = json.dumps(state, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return STATE_PREFIX + base64.b64encode(zlib.compress(raw, 9)).decode("ascii")


def shared_view_tag(name: str, *, filter_string: str, line_metrics=(), bar_metrics=(),
                    columns=(), hidden_metrics=(), run_ids=(), share_key: str | None = None,
                    created_ms: int | None = None, **state_options) -> tuple[str, str, str]:
    """``(tag_key, tag_value, share_key)`` of a saved view, for
    ``MlflowClient().set_experiment_tag(experiment_id, tag_key, tag_value)``.

    ``share_key`` defaults to a hash of ``name``: writing a view of the same name again
    replaces it (same link) instead of adding one (the UI lists at most 40 views per
    experiment and refuses two views of one name). Other keyword arguments go to
    :func:`view_state`. Raises ValueError past the 20,000-character limit.
    """
    state = view_state(filter_string=filter_string, line_metrics=line_metrics,
                       bar_metrics=bar_metrics, columns=columns, hidden_metrics=hidden_metrics,
                       run_ids=run_ids, **state_options)
    if share_key is None:
        share_key = "biotab" + hashlib.sha256(name.encode()).hexdigest()[:20]
    if not share_key or not all(c.isalnum() or c in "-_." for c in share_key):
        raise ValueError(f"share key {share_key!r} must be letters, digits, '-', '_' or '.'")
    now = int(time.time() * 1000) if created_ms is None else int(created_ms)
    value = json.dumps({"name": name, "createdAt": now, "updatedAt": now,
                        "state": encode_state(state)}, separators=(",", ":"), ensure_ascii=False)
    if len(value) > MAX_TAG_VALUE:
        raise ValueError(f"view {name!r} is {len(value)} characters; MLflow's limit is {MAX_TAG_VALUE}")
    return TAG_PREFIX + share_key, value, share_key


def decode_view_state(tag_value: str) -> dict:
    """The view-state dict of a tag value, in every form the 3.17.2 UI reads: the
    envelope (its ``state`` compressed or plain JSON text), or a bare ``deflate;...``
    string or bare JSON object (what earlier MLflow 2.x/3.x versions wrote)."""
    text = tag_value
    if not text.startswith(STATE_PREFIX):
        obj = json.loads(text)
        if not (isinstance(obj, dict) and isinstance(obj.get("name"), str)
                and isinstance(obj.get("state"), str)):
            return obj
        text = obj["state"]
    if text.startswith(STATE_PREFIX):
        text = zlib.decompress(base64.b64decode(text[len(STATE_PREFIX):])).decode("utf-8")
    return json.loads(text)


def _runs_url(base_url: str, experiment_id: str, query: dict) -> str:
    return (f"{base_url.rstrip('/')}/#/experiments/{urllib.parse.quote(str(experiment_id), safe='')}"
            f"/runs?{urllib.parse.urlencode(query, quote_via=urllib.parse.quote)}")


def deep_link(base_url: str, experiment_id: str, share_key: str, *, charts: bool = True) -> str:
    """The link that opens the saved view.

    ``workflowType=machine_learning``: a browser that never used the UI is otherwise in
    GenAI mode (the view still loads, under a GenAI side bar titled "Training runs").
    ``compareRunsMode=CHART``: the chart view (the view state does not hold the mode;
    the UI's own "Save view" link carries it the same way). No search facet
    (searchFilter, orderByKey, ...) may be added: with one the UI ignores the view.
    """
    query = {"workflowType": "machine_learning", "viewStateShareKey": share_key}
    if charts:
        query["compareRunsMode"] = "CHART"
    return _runs_url(base_url, experiment_id, query)


def fallback_link(base_url: str, experiment_id: str, filter_string: str, *, charts: bool = True,
                  order_by: str | None = RUN_NAME_ORDER, ascending: bool | None = True) -> str:
    """A link that needs no tag (an MLflow whose UI does not know saved views): filter,
    sort and chart mode ride in the URL, which MLflow 2.x and 3.x UIs read. The charts
    are then the UI's own (one per metric, alphabetical, one "Model metrics" section)
    and only the first 10 runs are charted; there is no URL parameter for either."""
    query = {"workflowType": "machine_learning", "searchFilter": filter_string}
    if order_by:
        query["orderByKey"] = order_by
    if ascending is not None:
        query["orderByAsc"] = "true" if ascending else "false"
    if charts:
        query["compareRunsMode"] = "CHART"
    return _runs_url(base_url, experiment_id, query)


def sweep_filter(sweep_id: str) -> str:
    """The MLflow search filter of the configuration runs of one biotab sweep."""
    escaped = sweep_id.replace("\\", "\\\\").replace("'", "\\'")
    return f"tags.sweep_id = '{escaped}' and tags.`biotab.role` = 'configuration'"
