"""Configuration of each learner's JupyterLab (loaded through JUPYTER_CONFIG_PATH)."""

from pathlib import Path

c = get_config()  # noqa: F821 - provided by Jupyter's config loader

# Learners are in a workshop: no news or update pop-up over the first notebook.
c.LabApp.news_url = None
c.LabApp.app_settings_dir = str(Path(__file__).resolve().parent / "lab-settings")
