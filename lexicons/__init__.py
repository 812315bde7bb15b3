"""The coder's and the entity layer's data (TSV, TOML) and their loaders: lexicons.loaders (actors,
agents, verbs, codebook, coder rules), lexicons.gazetteer (GeoNames places), lexicons.tone (VADER)."""
