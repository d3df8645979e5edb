"""The exercise notebook, executed headless as a learner would run it, on each source of data."""

import json
import subprocess
import sys
from importlib.resources import files
from pathlib import Path

import nbformat
from conftest import shared_file
from nbclient import NotebookClient

NOTEBOOK = files("digitnet.notebooks").joinpath("ex4_neural_networks.ipynb")


def execute(cwd, monkeypatch, **env):
    """Run every cell in ``cwd`` with only the given DIGITNET_EX4* variables set."""
    for name in ("DIGITNET_EX4DATA", "DIGITNET_EX4WEIGHTS"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, str(value))
    notebook = nbformat.reads(NOTEBOOK.read_text(), as_version=4)
    NotebookClient(notebook, timeout=600, resources={"metadata": {"path": str(cwd)}}).execute()
    return notebook


def text_of(notebook) -> str:
    parts = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            parts.append(output.get("text", ""))
            parts.append(output.get("data", {}).get("text/plain", ""))
    return "\n".join(parts)


def count(notebook, mime: str) -> int:
    return sum(
        mime in output.get("data", {})
        for cell in notebook.cells
        for output in cell.get("outputs", [])
    )


def test_committed_notebook_has_no_outputs():
    notebook = json.loads(NOTEBOOK.read_text())
    code = [cell for cell in notebook["cells"] if cell["cell_type"] == "code"]
    assert code
    assert all(cell["outputs"] == [] and cell["execution_count"] is None for cell in code)


def test_runs_on_scikit_learn_digits_when_no_course_data_is_found(tmp_path, monkeypatch):
    notebook = execute(tmp_path, monkeypatch)
    text = text_of(notebook)
    assert "using scikit-learn's 8x8 digits (no course data found)" in text
    assert "no course weights for this data: random weights" in text
    assert "rows of Theta1's gradient all equal: True" in text
    largest = text.split("rows of Theta1's gradient all equal: True (largest entry ")[1]
    assert float(largest.split(")")[0]) > 0  # equal rows of a gradient that is not all zero
    # Pictures inline: the 100 digits, the hidden units, the exploration; the model card as HTML.
    assert count(notebook, "image/png") >= 3
    assert count(notebook, "text/html") >= 1
    assert "64-25-10 sigmoid" in text
    accuracy = [line for line in text.splitlines() if line.startswith("L-BFGS, 100 iterations")]
    assert accuracy and float(accuracy[0].split("accuracy ")[1].split("%")[0]) > 95


def test_runs_on_the_course_layout_file_given_by_the_environment(tmp_path, monkeypatch):
    data = shared_file("mnist20-5000.mat")
    weights = shared_file("ex4weights.mat")
    notebook = execute(tmp_path, monkeypatch, DIGITNET_EX4DATA=data, DIGITNET_EX4WEIGHTS=weights)
    text = text_of(notebook)
    assert f"using {data} (the course's layout): 5000 examples of 400 pixels" in text
    assert f"weights from {weights}" in text
    assert "400-25-10 sigmoid" in text


def test_digitnet_notebook_copies_it_and_never_overwrites_without_force(tmp_path):
    digitnet = str(Path(sys.executable).with_name("digitnet"))
    first = subprocess.run([digitnet, "notebook"], cwd=tmp_path, capture_output=True, text=True)
    assert first.returncode == 0, first.stderr
    copy = tmp_path / "ex4_neural_networks.ipynb"
    assert copy.read_text() == NOTEBOOK.read_text()
    copy.write_text("mine")
    again = subprocess.run([digitnet, "notebook"], cwd=tmp_path, capture_output=True, text=True)
    assert again.returncode == 2 and "--force" in again.stderr
    assert copy.read_text() == "mine"
    forced = subprocess.run(
        [digitnet, "notebook", "--force"], cwd=tmp_path, capture_output=True, text=True
    )
    assert forced.returncode == 0 and copy.read_text() == NOTEBOOK.read_text()
