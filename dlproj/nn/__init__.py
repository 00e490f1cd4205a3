"""Neural-network pieces written from scratch in NumPy: every layer has forward and backward.

A layer keeps `params` and `grads` dicts under the same names ("W", "b"); `backward(dout)` fills
`grads` and returns the gradient with respect to the layer's input.
"""
