/* The console's chart defaults, after ECharts and before any page's charts: a reader who asks
   the system for less motion (prefers-reduced-motion) gets every chart drawn at once, without
   ECharts' entry and update animations. A page that sets `animation` itself keeps its choice. */
(function () {
  if (typeof echarts === 'undefined' || !window.matchMedia) { return; }
  if (!window.matchMedia('(prefers-reduced-motion: reduce)').matches) { return; }
  var init = echarts.init;
  echarts.init = function () {
    var chart = init.apply(echarts, arguments);
    chart.setOption({animation: false});
    return chart;
  };
})();
