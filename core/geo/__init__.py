"""Geography: bounding boxes, distances, local projection, road networks and snapping onto them.

Bottom up: `bbox` (BBox), `distance` (haversine, LocalProjection), `snap` (ST-GIA's mapping step:
exact, batched nearest point on straight segments), `network` (RoadNetwork, which builds its snapper
and distance graph), `paths` (shortest-path km), `knn` (a k-NN stand-in network over known
locations), `formats` (one module per road format: GraphML, OSM XML, CSV pair, osmnx download by
place name), `loaders` (`load_road_network(spec)`, `from_locations`). Nothing here imports
`core.data`: the dataset types build on geography, not the other way round.
"""
from core.geo.bbox import BBox

__all__ = ["BBox"]
