"""The 5-point template and similarity alignment; the code lives in the torch-free lrface.detect.template
(serving aligns with it too) and is re-exported here for lrface.prep."""

from lrface.detect.template import (  # noqa: F401
    TEMPLATE,
    WORK_SIZE,
    align_face,
    box_matrix,
    canonical_order,
    similarity_matrix,
    template,
    usable_points,
    warp,
)
