"""Pure figure builders: plotly Figures or escaped HTML strings; nothing here displays anything."""
