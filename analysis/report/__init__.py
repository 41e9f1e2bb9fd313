"""Report: typed sections, their computation, figures, the palette, rendering and the explorer."""
