// The checker layer lives here.
