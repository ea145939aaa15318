"""segdemo: the small shared package behind the book *Semantic segmentation, step by step*.

Importing ``segdemo`` is instant and imports no deep-learning framework. Framework-free code lives in
``segdemo.data``, ``segdemo.metrics``, ``segdemo.plotting`` and ``segdemo.profiles`` (numpy only);
``segdemo.torch`` and ``segdemo.tensorflow`` mirror each other name for name.
"""

__version__ = "0.1.0"
