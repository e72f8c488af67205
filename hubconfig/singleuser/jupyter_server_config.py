"""Configuration of each learner's JupyterLab (loaded through JUPYTER_CONFIG_PATH)."""

import atexit
import gc
from pathlib import Path

c = get_config()  # noqa: F821 - provided by Jupyter's config loader

# Learners are in a workshop: no news or update pop-up over the first notebook.
c.LabApp.news_url = None
c.LabApp.app_settings_dir = str(Path(__file__).resolve().parent / "lab-settings")

# A stopping server spent about 1 CPU-second in the interpreter's final garbage collection
# over JupyterLab's large heap (py-spy: gc_collect_main), so ten servers culled at once kept
# a 2-core host busy for 5 s. Freezing the heap at exit makes that last pass skip it: the
# process exits in a fraction of the time; atexit handlers and file flushing still run.
atexit.register(gc.freeze)
