"""Face tools shared by alignment, face-part masks and labellers (the optional ``face`` extra)."""
