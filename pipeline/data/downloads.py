"""``make data`` (``python -m pipeline.data download``): fetch the public UCI disease tables
and verify their checksums.

Each :class:`Source` says where the original lives, how to convert it to the
layout its ``conf/dataset/<name>.yaml`` expects, and the MD5 of the result (the
copies this project was tested with). Without a network the download fails fast
with a list of which file to put where by hand.
"""

from __future__ import annotations

import hashlib
import logging
import os
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..errors import DownloadError, NetworkUnavailableError, did_you_mean

log = logging.getLogger(__name__)


UCI = "https://archive.ics.uci.edu/ml/machine-learning-databases"


@dataclass(frozen=True)
class Source:
    """Where a named dataset comes from and how to check it.

    ``md5`` is the checksum of the file as the config expects it (the reference
    copy in ``../shared/datasets``). Originals without that header get ``header``
    prepended (``header_mode="prepend"``) or swapped in (``"replace"``); line
    endings are normalised to ``newline``. ``url=None`` means no automatic
    conversion exists: ``note`` says how to obtain the file by hand.
    """

    file: str
    md5: str
    url: str | None
    header: str | None = None
    header_mode: str | None = None
    newline: str = "\n"
    note: str = ""


SOURCES: dict[str, Source] = {
    "wdbc": Source(
        "wdbc.csv", "923774418cba878ec4e5bea8ee9082d5",
        f"{UCI}/breast-cancer-wisconsin/wdbc.data",
        header="ID,Class," + ",".join(f"V{i}" for i in range(1, 31)),
        header_mode="prepend", newline="\r\n",
    ),
    "pima": Source(
        "pima-indians-diabetes.csv", "85c634feb01aa3f91128c48fd50d454d",
        # UCI withdrew this set; this is the widely used mirror of its last UCI version.
        "https://raw.githubusercontent.com/jbrownlee/Datasets/master/pima-indians-diabetes.data.csv",
        header="NumTimesPrg,PlGlcConc,BloodP,SkinThick,TwoHourSerIns,BMI,DiPedFunc,Age,target",
        header_mode="prepend",
    ),
    "heart_cleveland": Source(
        "cleveland.csv", "0c31842219a49d6c5f9450a4e28a7a05",
        f"{UCI}/heart-disease/processed.cleveland.data",
        header="(age),(sex),(cp),(trestbps),(chol),(fbs),(restecg),(thalach),(exang),"
        "(oldpeak),(slope),(ca),(thal),(num) (the predicted attribute)",
        header_mode="prepend",
    ),
    "ckd": Source(
        "chronic_kidney_disease.csv", "ce2f8b23650360702f3e91357f59b08a", None,
        note="UCI distributes it as an ARFF file in a zip archive "
        "(https://archive.ics.uci.edu/dataset/336/chronic+kidney+disease); convert it to a "
        "CSV with a header row (see data/README.md)",
    ),
    "ilpd": Source(
        "indian_liver_patient.csv", "596c523f9fe6046762b6bf3633f924b5",
        f"{UCI}/00225/Indian%20Liver%20Patient%20Dataset%20(ILPD).csv",
        header="Age,Gender,Total_Bilirubin,Direct_Bilirubin,Alkaline_Phosphotase,"
        "Alamine_Aminotransferase,Aspartate_Aminotransferase,Total_Protiens,Albumin,"
        "Albumin_and_Globulin_Ratio,Liver_Disease",
        header_mode="prepend",
    ),
    "hepatitis": Source(
        "hepatitis.csv", "12a971ea194196f5a1aa8d2979284a98", None,
        note="UCI's hepatitis.data (https://archive.ics.uci.edu/dataset/46/hepatitis) has no "
        "header and formats numbers differently; add the header Class,V1,...,V19 (see "
        "data/README.md)",
    ),
    "parkinsons": Source(
        "parkinsons.csv", "ab5d48f72b03e84f02bb84df090d5de1",
        f"{UCI}/parkinsons/parkinsons.data",
        header="name,MDVPFo,MDVPFhi,MDVPFlo,MDVPJitter,MDVPJitter,MDVPRAP,MDVPPPQ,JitterDDP,"
        "MDVPShimmer,MDVPShimmer,ShimmerAPQ3,ShimmerAPQ5,MDVPAPQ,ShimmerDDA,NHR,HNR,status,"
        "RPDE,DFA,spread1,spread2,D2,PPE",
        header_mode="replace", newline="\r\n",
    ),
    "cervical": Source(
        "risk_factors_cervical_cancer.csv", "09ffc448c901f1a32d60ea47ee29bdff",
        f"{UCI}/00383/risk_factors_cervical_cancer.csv",
    ),
}


def _fetch(url: str, timeout: float) -> bytes:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 (fixed URLs)
            return response.read()
    except urllib.error.HTTPError as err:
        raise DownloadError(f"{url} answered HTTP {err.code} {err.reason}") from None
    except (urllib.error.URLError, TimeoutError, OSError) as err:
        reason = getattr(err, "reason", err)
        raise NetworkUnavailableError(f"cannot reach {url}: {reason}") from None


def _convert(payload: bytes, source: Source) -> bytes:
    """Give the original the reference copy's header and line endings."""
    lines = payload.replace(b"\r\n", b"\n").decode("utf-8").splitlines()
    if source.header_mode == "replace":
        lines = [source.header, *lines[1:]]
    elif source.header_mode == "prepend":
        lines = [source.header, *lines]
    lines = [line for line in lines if line.strip()]
    return (source.newline.join(lines) + source.newline).encode("utf-8")


def _md5(payload: bytes) -> str:
    return hashlib.md5(payload, usedforsecurity=False).hexdigest()


def download(
    names: Sequence[str] | None,
    directory: str | os.PathLike,
    mirror: str | None = None,
    timeout: float = 10.0,
    force: bool = False,
) -> list[Path]:
    """Fetch the named UCI datasets into the data directory and verify their MD5.

    Parameters
    ----------
    names : sequence of str or None
        Keys of :data:`SOURCES`; all of them when empty or None.
    directory : path
        Target directory (the data directory: ``datasets.data_dir()``).
    mirror : str, optional
        Base URL serving the reference copies under their file names (e.g. an
        institutional mirror or ``file:///path/to/shared/datasets``); fetched
        verbatim, no conversion.
    timeout : float
        Seconds per request, kept short so an offline machine fails fast.
    force : bool
        Re-fetch files that already exist.

    Returns
    -------
    list of pathlib.Path
        The verified files.

    Raises
    ------
    DownloadError
        When any file could not be fetched or verified; the message lists, per
        file, what went wrong and where to put the file by hand.
    """
    target = Path(directory)
    target.mkdir(parents=True, exist_ok=True)
    selected = _selected_sources(names)
    done, problems = [], []
    for position, (name, source) in enumerate(selected.items()):
        try:
            done.append(_download_one(name, source, target, mirror, timeout, force))
        except NetworkUnavailableError as err:
            rest = list(selected.items())[position:]
            problems.append(f"{err}. No network? Put these files into {target} by hand "
                            f"(e.g. from ../shared/datasets or another machine):")
            problems += [f"  {target / s.file}  ({n}; {s.url or s.note})" for n, s in rest]
            break
        except DownloadError as err:
            problems.append(f"{name}: {err}")
    if problems:
        raise DownloadError("\n".join(problems))
    return done


def _selected_sources(names: Sequence[str] | None) -> dict[str, Source]:
    unknown = [n for n in names or () if n not in SOURCES]
    if unknown:
        raise DownloadError(
            f"no download source for {unknown}.{did_you_mean(unknown[0], SOURCES)} "
            f"Known: {', '.join(SOURCES)}."
        )
    return {n: SOURCES[n] for n in (names or SOURCES)}


def _download_one(name: str, source: Source, target: Path, mirror, timeout, force) -> Path:
    path = target / source.file
    if path.is_file() and not force:
        found = _md5(path.read_bytes())
        if found == source.md5:
            log.info("%s: %s already present, checksum ok", name, path)
            return path
        raise DownloadError(
            f"{path} exists but its MD5 is {found}, expected {source.md5}: move it away, "
            f"or re-fetch with --force."
        )
    if mirror is None and source.url is None:
        raise DownloadError(f"no automatic download: {source.note}; put it at {path}")
    if mirror is not None:
        payload = _fetch(f"{mirror.rstrip('/')}/{source.file}", timeout)
    else:
        payload = _convert(_fetch(source.url, timeout), source)
    found = _md5(payload)
    if found != source.md5:
        rejected = path.with_name(path.name + ".unverified")
        rejected.write_bytes(payload)
        raise DownloadError(
            f"MD5 of the fetched file is {found}, expected {source.md5} (the copy this project "
            f"was tested with). Kept it as {rejected}; inspect it and rename it to {path.name} "
            f"if you trust it, or put the reference copy at {path}."
        )
    path.write_bytes(payload)
    log.info("%s: saved %s (md5 ok)", name, path)
    return path
