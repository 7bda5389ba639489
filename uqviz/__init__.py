"""uqviz: make the uncertainty of language models visible. The engine never imports streamlit."""

__version__ = "0.1.0"
