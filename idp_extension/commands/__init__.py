"""Click command groups of the ``ispeks-idp`` console script, one module each."""
