import os
import sys

os.environ["JAX_PLATFORMS"] = "cpu"  # the compiler tests never need the plugin
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
