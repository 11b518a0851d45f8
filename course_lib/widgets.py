"""Widgets: thin ipywidgets views over pure functions.

Each interactive picture in the notebooks is split in two:

* a *pure* function (``render_noising``, ``feature_maps``, ...) that takes tensors and numbers and
  returns arrays or data: the tests call these directly and check values;
* a *view* (``noising_widget``, ``feature_map_widget``, ...) that wires sliders to the pure function
  and shows the result in an ``ipywidgets.Image`` (PNG bytes) or ``Output``.

Nothing in the library imports this module; only notebooks, the CLI and the gallery do.
"""

# ---- chapters 3 and 4
