raise RuntimeError("half done: the backward pass is still to be written")
