"""The MLflow UI in a real browser: a tiny sweep logged to ``mlflow server``, its printed
deep link opened in headless Chromium (Debian's chromium and chromium-driver), and what a
user sees there. Screenshots are saved in the test's temporary directory."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time

import pytest

from tests.conftest import MLFLOW_ENV, PROJECT_ROOT

pytestmark = pytest.mark.slow
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
CONFIGURATIONS = ("loss=absolute_error", "loss=cross_entropy", "loss=squared_error")
CURVES = ("mean_val_loss", "mean_train_loss", "mean_val_auroc")


@pytest.fixture
def browser(tmp_path):
    if not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)):
        pytest.skip("needs Debian's chromium and chromium-driver (apt-get install chromium chromium-driver)")
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                     "--window-size=1600,1100", f"--user-data-dir={tmp_path / 'profile'}"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    yield driver
    driver.quit()
    shutil.rmtree(tmp_path / "profile", ignore_errors=True)


def _sweep_link(tmp_path, uri) -> str:
    """Run a three-configuration sweep against ``uri``; return the link it prints."""
    clean = {k: v for k, v in os.environ.items() if k not in MLFLOW_ENV}
    result = subprocess.run(
        [sys.executable, "-m", "pipeline.train", "-m", "experiment=loss", "hydra/launcher=joblib",
         "split.n_splits=3", "optimizer.max_epochs=15", "n_bootstrap=30", "tracking.log_plots=false",
         f"tracking.uri={uri}", f"hydra.sweep.dir={tmp_path}/multirun"],
        cwd=PROJECT_ROOT, text=True, capture_output=True, timeout=900, env=clean)
    assert result.returncode == 0, result.stderr[-3000:]
    (link,) = re.findall(r"learning curves: (http\S+)", result.stdout)
    return link


def _text_when(driver, wanted, timeout=90) -> str:
    """The page's text once it shows every string of ``wanted``."""
    from selenium.webdriver.common.by import By

    deadline = time.monotonic() + timeout
    while True:
        text = driver.find_element(By.TAG_NAME, "body").text
        if all(w in text for w in wanted) or time.monotonic() > deadline:
            return text
        time.sleep(1)


def test_one_link_opens_every_configurations_learning_curves(tmp_path, mlflow_server, browser):
    link = _sweep_link(tmp_path, mlflow_server)
    assert link.startswith(f"{mlflow_server}/#/experiments/")
    assert "workflowType=machine_learning" in link and "viewStateShareKey=" in link

    browser.get(link)  # the one click
    legends = [f"{configuration} ({curve})" for curve in CURVES for configuration in CONFIGURATIONS]
    text = _text_when(browser, ["Learning curves", "Pooled metrics", *CURVES, *legends])
    browser.save_screenshot(str(tmp_path / "sweep_view.png"))
    lines = text.splitlines()
    # Model-training mode: its side bar (Runs, Models, Model registry), not GenAI's.
    assert "Model registry" in lines and "Judges" not in lines and "Prompts" not in lines
    # One row per configuration: no sweep run, no fold runs.
    assert "3 matching runs" in text
    assert not any(line.startswith(("fold ", "experiment=loss")) for line in lines)
    # The learning-curve section first, each curve's legend naming every configuration.
    assert text.index("Learning curves") < text.index("Pooled metrics")
    missing = [legend for legend in legends if legend not in lines]
    assert not missing, f"not in the charts' legends: {missing}"
    for metric in ("auroc", "auprc", "brier"):
        assert metric in lines
