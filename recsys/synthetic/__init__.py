"""The synthetic MovieLens-25M-shaped generator (`generator`, `catalog`, `sampling`) and the `data=synthetic` option (`dataset`)."""
