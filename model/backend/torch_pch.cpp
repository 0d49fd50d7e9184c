// Anchors the shared precompiled header (torch_pch.h); holds no code.
