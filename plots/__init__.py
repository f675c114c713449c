"""Pictures of the allocator and its figures, drawn with matplotlib (imported when drawing).

- :mod:`.allocmap`: the allocation map of a granule allocator (one cell per granule, each
  allocation its own colour), from the model after a golden trace or a seeded random churn, or
  from the gateware in simulation (:mod:`.hwmap`, read through its debug port); a strip of
  frames or an animated GIF over the operations;
- :mod:`.frag`: fragmentation over a trace (free granules, longest free run, free runs; the
  heap's ``mallinfo`` fields for a heap trace);
- :mod:`.latency`: cycles per operation and latency against occupancy from
  ``mmaccel bench gfa --json``, with the targets;
- :mod:`.diagrams`: the block diagrams of docs/ as SVG (``python -m mmaccel.plots.diagrams``).

``mmaccel plot ...`` (:mod:`mmaccel.cli.plot`) runs them. The size/Fmax sweep plot stays with
the sweep (:func:`mmaccel.boards.sweep.plot_sweep`), a layer below.
"""

from __future__ import annotations

__all__: list[str] = []
