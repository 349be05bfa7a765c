"""The online side: serving bundle, caches and the BentoML service around them."""
