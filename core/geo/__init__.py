"""Geography: distances, local projection, road networks and snapping onto them."""
