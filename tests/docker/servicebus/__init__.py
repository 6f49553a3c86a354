"""A package (not a plain directory) so that its package-scoped control plane, and the Docker
test lock it holds, end with its last test: the other Docker tests take the lock after it."""
