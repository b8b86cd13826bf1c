"""Everything that calls a model: `client`, the only module that imports litellm (inside functions, since
`import litellm` costs seconds and hundreds of MB), the model registry, batch generation, the EQ judge, live
battles streamed to the site, and the retry policy they share. It may import arena.models, arena.db,
arena.config, arena.ingest and arena.voting; never arena.jobs or arena.web. Web code imports only `live`, whose
module level stays free of litellm (a test serves every page and checks)."""
