"""tagnet.datasets: video decoding, sampling, transforms and datasets."""
