"""Writers: the subset-writer contract, one module per output format, and the export driver."""
