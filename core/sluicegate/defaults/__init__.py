"""Default plugins that are nothing but their hook: the error-body shapes.

Every default plugin is listed in ``sluicegate.plugins.DEFAULT_PLUGINS``; the ones with code of
their own register beside it (``sluicegate.features.cache``, ``sluicegate.extensions.metrics``...).
"""
