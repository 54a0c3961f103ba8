"""The IR: the AST as a networkx graph, its queries and serialisation; the op registry."""
